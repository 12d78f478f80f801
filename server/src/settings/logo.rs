//! The shop's logo, printed at the top of every receipt. It travels as a data URL and is kept as one in
//! the settings row, so each device carries it with the settings and prints it offline. Checked by its
//! bytes, not by what the client says it is: PNG, JPEG or WebP, at most `MAX_BYTES` and `MAX_SIDE`
//! pixels a side (a thermal printer prints 384 to 576 dots across; more only costs every device).

use base64::{engine::general_purpose::STANDARD, Engine};
use imagesize::ImageType;

use crate::http::error::ApiError;

pub const MAX_BYTES: usize = 64 * 1024;
pub const MAX_SIDE: usize = 1024;

/// A valid logo as a canonical data URL (`data:image/png;base64,…`), from one a client sent.
pub fn parse(data_url: &str) -> Result<String, ApiError> {
    let invalid = |message: &str| ApiError::invalid("image", message);
    let base64 = data_url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .filter(|(meta, _)| meta.ends_with(";base64"))
        .map(|(_, data)| data)
        .ok_or_else(|| invalid("must be a data URL of an image (data:image/png;base64,…)"))?;
    // Base64 is 4 characters for 3 bytes: refuse a huge one before decoding it.
    if base64.len() > MAX_BYTES.div_ceil(3) * 4 + 4 {
        return Err(invalid("must be at most 64 KB"));
    }
    let bytes = STANDARD.decode(base64.trim()).map_err(|_| invalid("is not valid base64"))?;
    if bytes.len() > MAX_BYTES {
        return Err(invalid("must be at most 64 KB"));
    }
    let mime = match imagesize::image_type(&bytes) {
        Ok(ImageType::Png) => "image/png",
        Ok(ImageType::Jpeg) => "image/jpeg",
        Ok(ImageType::Webp) => "image/webp",
        _ => return Err(invalid("must be a PNG, JPEG or WebP image")),
    };
    match imagesize::blob_size(&bytes) {
        Ok(size) if (1..=MAX_SIDE).contains(&size.width) && (1..=MAX_SIDE).contains(&size.height) => {}
        Ok(_) => return Err(invalid("must be at most 1024 pixels wide and high")),
        Err(_) => return Err(invalid("is not a readable image")),
    }
    Ok(format!("data:{mime};base64,{}", STANDARD.encode(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG's first bytes with the given size in its header (enough for the checks here).
    fn png(width: u32, height: u32, padding: usize) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b.resize(b.len() + padding, 0);
        b
    }

    fn url(mime: &str, bytes: &[u8]) -> String {
        format!("data:{mime};base64,{}", STANDARD.encode(bytes))
    }

    #[test]
    fn takes_small_images_by_their_bytes() {
        // Called a JPEG by the client, a PNG by its bytes: kept as what it is.
        let kept = parse(&url("image/jpeg", &png(384, 120, 100))).unwrap();
        assert!(kept.starts_with("data:image/png;base64,"), "{kept}");
        let refused = |u: String| parse(&u).is_err();
        assert!(refused(url("image/png", &png(2000, 100, 0))), "too wide");
        assert!(refused(url("image/png", &png(100, 100, MAX_BYTES))), "too heavy");
        assert!(refused(url("image/png", b"<svg onload=alert(1)>")), "not an image we print");
        assert!(refused("data:image/png,notbase64".into()));
        assert!(refused("https://example.com/logo.png".into()));
        assert!(refused(format!("data:image/png;base64,{}", "A".repeat(200_000))));
    }
}
