//! The IPC path from bytes to a call: framing, JSON-RPC envelope, typed parameters. Never
//! panics, and never holds more than the line limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use licentric_proto::framing::LineDecoder;
use licentric_proto::ipc::Call;
use licentric_proto::jsonrpc::Request;

fuzz_target!(|data: &[u8]| {
    let mut decoder = LineDecoder::with_limit(1024);
    // Feed in uneven chunks, as a socket would.
    for chunk in data.chunks(97) {
        decoder.push(chunk);
        assert!(decoder.buffered() <= 1024);
        while let Some(frame) = decoder.next_frame() {
            let Ok(line) = frame else { continue };
            if let Ok(request) = serde_json::from_slice::<Request>(&line) {
                let _ = Call::parse(&request.method, request.params);
            }
        }
    }
});
