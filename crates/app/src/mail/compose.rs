//! Writing a message from its stored facts: a plain-text part and an HTML part with the same
//! content, and in a confirmation each ticket's QR code as an inline PNG the HTML names by
//! `cid:` (see `qr.rs` for why PNG). The `Message-ID` and `Date` come from the outbox row, and
//! the MIME boundaries from its id, so a message sent again is the same message.

use std::{
    fmt::Write,
    time::{Duration, SystemTime},
};

use lettre::{
    Message,
    message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType},
};

use super::{
    Mailer,
    facts::{Confirmation, EventFacts, PaymentRefunded, RefundNotice, TicketFacts},
    qr,
};
use boxoffice_domain::{currency::display_amount, time::Timestamp};
use boxoffice_store::{ClaimedMail, MailKind};

/// The message `mail` stands for, ready to send.
pub(crate) fn message(mailer: &Mailer, mail: &ClaimedMail) -> anyhow::Result<Message> {
    let to = Mailbox::new(
        Some(mail.recipient_name.clone()).filter(|n| !n.trim().is_empty()),
        mail.recipient.parse()?,
    );
    let builder = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .message_id(Some(mailer.message_id(&mail.id)))
        .date(SystemTime::UNIX_EPOCH + Duration::from_millis(mail.created_at.0.max(0) as u64));
    let greeting = greeting(&mail.recipient_name);
    let boundary = |n: u8| format!("bo-{}-{n}", mail.id);
    match mail.kind {
        MailKind::OrderConfirmation => {
            let facts: Confirmation = serde_json::from_str(&mail.payload)?;
            let cid = |t: &TicketFacts| format!("ticket-{}@{}", t.id, mailer.domain);
            let mut related = MultiPart::related()
                .boundary(boundary(2))
                .singlepart(SinglePart::html(confirmation_html(&facts, &greeting, &cid)));
            for ticket in &facts.tickets {
                let code = ticket.code.as_deref().unwrap_or_default();
                related = related.singlepart(
                    Attachment::new_inline_with_name(
                        cid(ticket),
                        format!("ticket-{}.png", ticket.seat),
                    )
                    .body(qr::png(code)?, ContentType::parse("image/png")?),
                );
            }
            let body = MultiPart::alternative()
                .boundary(boundary(1))
                .singlepart(SinglePart::plain(confirmation_text(&facts, &greeting)))
                .multipart(related);
            Ok(builder
                .subject(format!("Your tickets for {}", facts.event.name))
                .multipart(body)?)
        }
        MailKind::PaymentRefunded => {
            let facts: PaymentRefunded = serde_json::from_str(&mail.payload)?;
            let body = MultiPart::alternative()
                .boundary(boundary(1))
                .singlepart(SinglePart::plain(payment_refunded_text(&facts, &greeting)))
                .singlepart(SinglePart::html(payment_refunded_html(&facts, &greeting)));
            Ok(builder
                .subject(format!(
                    "Your payment for {} was refunded",
                    facts.event.name
                ))
                .multipart(body)?)
        }
        MailKind::RefundNotice => {
            let facts: RefundNotice = serde_json::from_str(&mail.payload)?;
            let amount = display_amount(facts.refunded_cents, &facts.currency);
            let body = MultiPart::alternative()
                .boundary(boundary(1))
                .singlepart(SinglePart::plain(refund_text(&facts, &greeting)))
                .singlepart(SinglePart::html(refund_html(&facts, &greeting)));
            Ok(builder
                .subject(format!("Refund of {amount} for {}", facts.event.name))
                .multipart(body)?)
        }
    }
}

fn greeting(name: &str) -> String {
    match name.trim() {
        "" => "Hello,".to_owned(),
        name => format!("Hello {name},"),
    }
}

/// `2026-06-12 19:30 UTC`: the stored time as a person reads it.
fn when(event: &EventFacts) -> String {
    match Timestamp::parse_rfc3339(&event.starts_at) {
        Some(t) => {
            let at = time::OffsetDateTime::from_unix_timestamp(t.0.div_euclid(1000))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        None => event.starts_at.clone(),
    }
}

fn confirmation_text(f: &Confirmation, greeting: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{greeting}\n");
    let _ = writeln!(
        t,
        "thank you for your order. Your tickets for {} are below.\n",
        f.event.name
    );
    let _ = writeln!(t, "Event:  {}", f.event.name);
    let _ = writeln!(t, "Venue:  {}", f.event.venue);
    let _ = writeln!(t, "When:   {}", when(&f.event));
    let _ = writeln!(t, "Order:  {}\n", f.order_id);
    for ticket in &f.tickets {
        let _ = writeln!(
            t,
            "- {}  {}\n  Ticket code: {}",
            ticket.seat,
            display_amount(ticket.price_cents, &f.currency),
            ticket.code.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(
        t,
        "\nTotal paid: {}\n",
        display_amount(f.total_cents, &f.currency)
    );
    let _ = writeln!(
        t,
        "Show each ticket's QR code at the door (the HTML version of this message has them, \
         and so has \"My tickets\" on the website). Each code admits once."
    );
    t
}

fn confirmation_html(
    f: &Confirmation,
    greeting: &str,
    cid: &dyn Fn(&TicketFacts) -> String,
) -> String {
    let mut rows = String::new();
    for ticket in &f.tickets {
        let _ = write!(
            rows,
            "<tr><td style=\"padding:12px 0;border-top:1px solid #ddd\">\
             <img src=\"cid:{cid}\" width=\"176\" height=\"176\" alt=\"QR code of the ticket for {seat}\" \
             style=\"display:block\"></td>\
             <td style=\"padding:12px;border-top:1px solid #ddd;vertical-align:top\">\
             <strong>{seat}</strong><br>{price}<br>\
             <span style=\"font:11px monospace;color:#555;word-break:break-all\">{code}</span></td></tr>",
            cid = escape(&cid(ticket)),
            seat = escape(&ticket.seat),
            price = escape(&display_amount(ticket.price_cents, &f.currency)),
            code = escape(ticket.code.as_deref().unwrap_or_default()),
        );
    }
    page(&format!(
        "<p>{greeting}</p><p>thank you for your order. Your tickets for <strong>{name}</strong> \
         are below: show each QR code at the door. Each code admits once.</p>\
         <p>{name}<br>{venue}<br>{when}<br>Order {order}</p>\
         <table style=\"border-collapse:collapse\">{rows}</table>\
         <p><strong>Total paid: {total}</strong></p>",
        greeting = escape(greeting),
        name = escape(&f.event.name),
        venue = escape(&f.event.venue),
        when = escape(&when(&f.event)),
        order = escape(&f.order_id),
        total = escape(&display_amount(f.total_cents, &f.currency)),
    ))
}

fn refund_summary(f: &RefundNotice) -> String {
    let amount = display_amount(f.refunded_cents, &f.currency);
    let what = if f.whole_order {
        "Your order has been refunded in full".to_owned()
    } else {
        format!(
            "Part of your order has been refunded; {} ticket{} still admit{}",
            f.tickets_left,
            if f.tickets_left == 1 { "" } else { "s" },
            if f.tickets_left == 1 { "s" } else { "" },
        )
    };
    format!("{what}. {amount} goes back to the card you paid with.")
}

fn refund_text(f: &RefundNotice, greeting: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{greeting}\n\n{}\n", refund_summary(f));
    let _ = writeln!(t, "Event:  {}", f.event.name);
    let _ = writeln!(t, "When:   {}", when(&f.event));
    let _ = writeln!(t, "Order:  {}\n", f.order_id);
    let _ = writeln!(t, "Refunded tickets (these no longer admit):");
    for ticket in &f.tickets {
        let _ = writeln!(
            t,
            "- {}  {}",
            ticket.seat,
            display_amount(ticket.price_cents, &f.currency)
        );
    }
    let _ = writeln!(
        t,
        "\nAmount refunded: {}",
        display_amount(f.refunded_cents, &f.currency)
    );
    t
}

fn refund_html(f: &RefundNotice, greeting: &str) -> String {
    let items: String = f
        .tickets
        .iter()
        .map(|t| {
            format!(
                "<li>{} &ndash; {}</li>",
                escape(&t.seat),
                escape(&display_amount(t.price_cents, &f.currency))
            )
        })
        .collect();
    page(&format!(
        "<p>{greeting}</p><p>{summary}</p><p>{name}<br>{when}<br>Order {order}</p>\
         <p>Refunded tickets (these no longer admit):</p><ul>{items}</ul>\
         <p><strong>Amount refunded: {amount}</strong></p>",
        greeting = escape(greeting),
        summary = escape(&refund_summary(f)),
        name = escape(&f.event.name),
        when = escape(&when(&f.event)),
        order = escape(&f.order_id),
        amount = escape(&display_amount(f.refunded_cents, &f.currency)),
    ))
}

fn payment_refunded_summary(f: &PaymentRefunded) -> String {
    format!(
        "Your payment went through only after your hold on the seats had ended and they could no \
         longer be sold to you, so there is no order and no ticket. The whole amount, {}, goes \
         back to the card you paid with.",
        display_amount(f.refunded_cents, &f.currency)
    )
}

fn payment_refunded_text(f: &PaymentRefunded, greeting: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{greeting}\n\n{}\n", payment_refunded_summary(f));
    let _ = writeln!(t, "Event:    {}", f.event.name);
    let _ = writeln!(t, "When:     {}", when(&f.event));
    let _ = writeln!(t, "Seats:    {}", f.seats.join("; "));
    let _ = writeln!(t, "Payment:  {}\n", f.payment_id);
    let _ = writeln!(
        t,
        "Amount refunded: {}",
        display_amount(f.refunded_cents, &f.currency)
    );
    t
}

fn payment_refunded_html(f: &PaymentRefunded, greeting: &str) -> String {
    page(&format!(
        "<p>{greeting}</p><p>{summary}</p><p>{name}<br>{when}<br>Seats: {seats}<br>\
         Payment {payment}</p><p><strong>Amount refunded: {amount}</strong></p>",
        greeting = escape(greeting),
        summary = escape(&payment_refunded_summary(f)),
        name = escape(&f.event.name),
        when = escape(&when(&f.event)),
        seats = escape(&f.seats.join("; ")),
        payment = escape(&f.payment_id),
        amount = escape(&display_amount(f.refunded_cents, &f.currency)),
    ))
}

/// The HTML document around a body: inline styles only, which is what mail clients keep.
fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:sans-serif;color:#111;max-width:600px\">{body}</body></html>"
    )
}

/// Text safe inside HTML elements and attribute values: names come from buyers and organisers.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_shown_not_run() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn a_refund_says_how_many_tickets_still_admit() {
        let notice = |left, whole| RefundNotice {
            order_id: "o".into(),
            event: EventFacts {
                name: "E".into(),
                venue: "V".into(),
                starts_at: "2026-06-12T19:30:00Z".into(),
            },
            currency: "EUR".into(),
            refunded_cents: 4500,
            whole_order: whole,
            tickets: Vec::new(),
            tickets_left: left,
        };
        assert_eq!(
            refund_summary(&notice(1, false)),
            "Part of your order has been refunded; 1 ticket still admits. EUR 45.00 goes back to the card you paid with."
        );
        assert!(refund_summary(&notice(2, false)).contains("2 tickets still admit."));
        assert!(
            refund_summary(&notice(0, true)).starts_with("Your order has been refunded in full.")
        );
        assert_eq!(when(&notice(0, true).event), "2026-06-12 19:30 UTC");
    }
}
