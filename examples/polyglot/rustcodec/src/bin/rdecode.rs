//! Prints the pointer width it runs with and the little-endian u32 of its 8-hex-digit argument.
use std::process::ExitCode;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let bytes: Option<Vec<u8>> = (0..arg.len())
        .step_by(2)
        .map(|i| arg.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    match bytes.as_deref() {
        Some(&[a, b, c, d]) => {
            println!("{} {}", usize::BITS, rustcodec::decode_le([a, b, c, d]));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: rdecode 8-HEX-DIGITS");
            ExitCode::from(2)
        }
    }
}
