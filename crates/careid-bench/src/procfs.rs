//! The server's resource use, read from `/proc/PID/status` (resident memory now and at
//! its peak) and `/proc/PID/stat` (CPU time), and how busy the machine is
//! (`/proc/loadavg`), as proc(5) lays them out. Linux only.

use serde::Serialize;

use crate::BenchError;

/// Clock ticks per second in `/proc/PID/stat`: the kernel's USER_HZ, which is 100 on
/// every Linux architecture's user-space ABI (`sysconf(_SC_CLK_TCK)`).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessSample {
    /// Resident set size (VmRSS), MiB.
    pub rss_mib: f64,
    /// Peak resident set size (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// User plus system CPU time since the process started, seconds.
    pub cpu_seconds: f64,
}

/// Reads process `pid` now.
pub fn sample(pid: u32) -> Result<ProcessSample, BenchError> {
    let gone = |why: String| BenchError::ProcessGone { pid, why };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|err| gone(err.to_string()))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|err| gone(err.to_string()))?;
    let (rss_kib, hwm_kib) =
        memory_kib(&status).ok_or_else(|| gone("no VmRSS/VmHWM in status".into()))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| gone("stat does not parse".into()))?;
    Ok(ProcessSample {
        rss_mib: mib(rss_kib),
        peak_rss_mib: mib(hwm_kib),
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
    })
}

/// The machine's 1-, 5- and 15-minute load averages, if `/proc/loadavg` reads. A
/// figure measured while other work keeps the cores busy says little about careid.
pub fn load_average() -> Option<[f64; 3]> {
    parse_load_average(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn parse_load_average(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// `VmRSS` and `VmHWM` of a `/proc/PID/status` text, in KiB.
fn memory_kib(status: &str) -> Option<(u64, u64)> {
    let field = |key: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The
/// command name (field 2) is in parentheses and may itself hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards; utime is field 14, stime field 15.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_resident_and_peak_memory() {
        let status = "Name:\tcareid\nVmPeak:\t  900000 kB\nVmHWM:\t   47104 kB\nVmRSS:\t   32768 kB\nThreads:\t5\n";
        assert_eq!(memory_kib(status), Some((32768, 47104)));
        assert_eq!(mib(32768), 32.0);
        assert_eq!(memory_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn stat_gives_user_plus_system_ticks_even_with_odd_command_names() {
        let stat = "4242 (care id) (x)) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 5 0 100 1000000 8000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (careid) S 1"), None);
    }

    #[test]
    fn loadavg_gives_three_averages() {
        assert_eq!(
            parse_load_average("8.67 7.28 7.07 3/412 20371\n"),
            Some([8.67, 7.28, 7.07])
        );
        assert_eq!(parse_load_average("8.67 x"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(std::process::id()).unwrap();
        assert!(me.rss_mib > 0.0);
        assert!(me.peak_rss_mib >= me.rss_mib);
    }
}
