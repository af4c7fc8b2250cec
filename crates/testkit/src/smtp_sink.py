# The mail sink of the e-mail tests: an aiosmtpd server on 127.0.0.1:PORT that accepts every
# message and writes each one, parsed by Python's own e-mail package (the parser closest to what a
# mail client does with the MIME tree), as one JSON file in DIR: envelope, headers, and every leaf
# part decoded (text as text, anything else as base64). Files appear whole (written, then
# renamed), numbered in arrival order. Runs until killed. Usage: python smtp_sink.py PORT DIR
import base64
import email
import email.policy
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller

port, directory = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
count = 0


def leaf(part):
    payload = part.get_payload(decode=True) or b""
    out = {
        "content_type": part.get_content_type(),
        "content_id": part.get("Content-ID"),
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
    }
    if part.get_content_maintype() == "text":
        out["text"] = payload.decode(part.get_content_charset() or "utf-8")
    else:
        out["base64"] = base64.b64encode(payload).decode()
    return out


class Sink:
    async def handle_DATA(self, server, session, envelope):
        global count
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "headers": {k.lower(): str(v) for k, v in message.items()},
            "structure": [p.get_content_type() for p in message.walk()],
            "parts": [leaf(p) for p in message.walk() if not p.is_multipart()],
        }
        with lock:
            count += 1
            name = os.path.join(directory, "%06d.json" % count)
        with open(name + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name)
        return "250 OK"


controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print("listening on 127.0.0.1:%d" % port, flush=True)
threading.Event().wait()
