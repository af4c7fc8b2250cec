//! A ticket's code as a QR image in PNG, for e-mail. Mail clients do not agree on SVG (Gmail and
//! Outlook do not show it at all) nor on `data:` URLs (both block them), while every client shows
//! a PNG attached inline and named by `cid:` from the HTML part; so that is what the confirmation
//! carries.
//!
//! The bitmap is drawn here from the code's modules and encoded by the `png` crate: the `qrcode`
//! crate's own image renderer goes through the general-purpose `image` crate, many times the size
//! of a PNG encoder, for what is a scaled grid of two colours.

use qrcode::{Color, QrCode};

/// Pixels per module: a 41-module code (a ticket code's size) is 264 px wide with its margin,
/// sharp on a phone held to a scanner.
const MODULE_PX: usize = 6;
/// The blank margin the standard asks for, in modules.
const QUIET_ZONE: usize = 4;

/// The PNG of `code`'s QR code, black on white, with its quiet zone.
pub(crate) fn png(code: &str) -> anyhow::Result<Vec<u8>> {
    let qr = QrCode::new(code.as_bytes())?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for row in y * MODULE_PX..(y + 1) * MODULE_PX {
            pixels[row * side + x * MODULE_PX..row * side + (x + 1) * MODULE_PX].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PNG's pixels, decoded again.
    fn decode(png_bytes: &[u8]) -> (usize, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        buf.truncate(info.buffer_size());
        (info.width as usize, buf)
    }

    #[test]
    fn every_module_of_the_code_is_drawn_where_the_qr_code_has_it() {
        let code = "bo1.0190c7b2d3a94f6e8e1f2a3b4c5d6e7f.Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA";
        let (side, pixels) = decode(&png(code).expect("a PNG"));
        let qr = QrCode::new(code.as_bytes()).unwrap();
        let modules = qr.width();
        assert_eq!(side, (modules + 2 * QUIET_ZONE) * MODULE_PX);
        for (i, color) in qr.to_colors().iter().enumerate() {
            // The centre pixel of each module.
            let x = (i % modules + QUIET_ZONE) * MODULE_PX + MODULE_PX / 2;
            let y = (i / modules + QUIET_ZONE) * MODULE_PX + MODULE_PX / 2;
            let expected = if *color == Color::Dark { 0 } else { 255 };
            assert_eq!(pixels[y * side + x], expected, "module {i}");
        }
    }

    #[test]
    fn the_quiet_zone_is_blank() {
        let (side, pixels) = decode(&png("bo1.x.y").expect("a PNG"));
        let margin = QUIET_ZONE * MODULE_PX;
        for y in 0..side {
            for x in (0..margin).chain(side - margin..side) {
                assert_eq!(pixels[y * side + x], 255);
                assert_eq!(pixels[x * side + y], 255);
            }
        }
    }
}
