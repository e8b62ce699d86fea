//! What Linux's `/proc` says about a process: CPU time, resident memory, threads. Used by the
//! System page and `/metrics` (this process) and by `appliance bench web` (the appliance).

/// A process's resource use.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
    /// Threads.
    pub threads: u64,
}

/// The usage of process `pid` (`"self"` for this one); `None` when it cannot be read.
pub fn usage(pid: &str) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) start after its ") ".
    let f: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // utime, stime and num_threads are fields 14, 15 and 20 of the line: 11, 12 and 17 here.
    let ticks = field(11)? + field(12)?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(Usage {
        cpu_seconds: ticks as f64 / 100.0,
        rss_bytes: pages * 4096,
        threads: field(17)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let u = super::usage("self").unwrap();
        assert!(u.rss_bytes > 0 && u.threads >= 1);
        assert_eq!(super::usage("0"), None);
    }
}
