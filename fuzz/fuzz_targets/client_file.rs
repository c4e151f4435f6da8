//! Client files (`config/clients/*.toml`): parsed and checked, each problem placed on a
//! line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = careid_server::parse_client_file("fuzz.toml", text) {
        let lines = text.lines().count().max(1);
        for problem in problems {
            assert!(
                problem.line.is_none_or(|line| line >= 1 && line <= lines),
                "{problem} is not on a line of the file"
            );
        }
    }
});
