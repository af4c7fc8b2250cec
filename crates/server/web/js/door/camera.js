// Reading QR codes with the phone's camera, where the browser has a BarcodeDetector (Chrome on Android, macOS,
// ChromeOS); elsewhere the door page offers only the typed or pasted code.

/** Whether this browser can read QR codes from the camera. */
export const cameraScanning = () => 'BarcodeDetector' in globalThis && Boolean(navigator.mediaDevices?.getUserMedia);

/**
 * Show the back camera in `video` and call `onCode(text)` for each QR code read; the same code read again within
 * `repeatMs` is ignored, since a code held in front of the camera is seen many times a second.
 * Resolves with a function that stops the camera; rejects when the camera cannot be opened.
 */
export async function startCamera(video, onCode, repeatMs = 3000) {
  const formats = await globalThis.BarcodeDetector.getSupportedFormats?.().catch(() => []);
  if (formats && formats.length && !formats.includes('qr_code')) throw new Error('This camera cannot read QR codes.');
  const detector = new globalThis.BarcodeDetector({ formats: ['qr_code'] });
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  video.srcObject = stream;
  video.setAttribute('playsinline', '');
  video.muted = true;
  await video.play().catch(() => {});
  let running = true;
  let last = { text: '', at: 0 };
  const tick = async () => {
    if (!running) return;
    try {
      if (video.readyState >= 2) {
        for (const found of await detector.detect(video)) {
          const text = found.rawValue;
          const now = Date.now();
          if (text && (text !== last.text || now - last.at > repeatMs)) {
            last = { text, at: now };
            onCode(text);
          }
        }
      }
    } catch {
      // A frame that could not be read; the next one may.
    }
    if (running) setTimeout(tick, 200);
  };
  tick();
  return () => {
    running = false;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}
