//! The faults the marathon injects, and when: each on by default, each switchable
//! (`--faults all,-disk`), spread over the days' auctions so each comes at least once when
//! there are days enough.

/// A fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL of the appliance (the marathon starts it again).
    Kill,
    /// The RTMP ingest down, then back.
    Ingest,
    /// X answers 429 and 503 for a while, and drops the filtered stream.
    X,
    /// The first RPC provider down.
    Rpc,
    /// A deposit's block replaced by a longer fork without it.
    Reorg,
    /// The model down (503), then slow (past its timeout).
    Llm,
    /// The data disk full for a while.
    Disk,
    /// The wall clock jumps forward, later back.
    Clock,
}

/// Every fault, in the order they are spread.
pub const ALL: [Fault; 8] = [
    Fault::Kill,
    Fault::X,
    Fault::Ingest,
    Fault::Rpc,
    Fault::Llm,
    Fault::Reorg,
    Fault::Clock,
    Fault::Disk,
];

impl Fault {
    /// Its name in `--faults`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Ingest => "ingest",
            Fault::X => "x",
            Fault::Rpc => "rpc",
            Fault::Reorg => "reorg",
            Fault::Llm => "llm",
            Fault::Disk => "disk",
            Fault::Clock => "clock",
        }
    }
}

/// Parses `--faults`: `all`, `none`, names, and `-name` to leave one out (`all,-disk`).
pub fn parse(spec: &str) -> Result<Vec<Fault>, String> {
    let mut on: Vec<Fault> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (off, name) = match part.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, part),
        };
        let chosen: Vec<Fault> = match name {
            "all" => ALL.to_vec(),
            "none" => Vec::new(),
            n => vec![*ALL.iter().find(|f| f.name() == n).ok_or_else(|| {
                format!(
                    "unknown fault {n:?}: one of all, none, {}",
                    ALL.map(Fault::name).join(", ")
                )
            })?],
        };
        if name == "none" {
            on.clear();
        }
        for f in chosen {
            if off {
                on.retain(|x| *x != f);
            } else if !on.contains(&f) {
                on.push(f);
            }
        }
    }
    on.sort_by_key(|f| ALL.iter().position(|x| x == f));
    Ok(on)
}

/// The faults of each day (day 1 first): the enabled ones in turn, as many a day as it takes
/// for each to come once over `days` (at least one, at most four a day), then round again.
pub fn schedule(enabled: &[Fault], days: u32) -> Vec<Vec<Fault>> {
    if enabled.is_empty() || days == 0 {
        return vec![Vec::new(); days as usize];
    }
    let per_day = enabled.len().div_ceil(days as usize).clamp(1, 4);
    let mut next = 0;
    (0..days)
        .map(|_| {
            (0..per_day)
                .map(|_| {
                    let f = enabled[next % enabled.len()];
                    next += 1;
                    f
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_chosen_by_name() {
        assert_eq!(parse("all").unwrap(), ALL.to_vec());
        assert_eq!(parse("all,-disk").unwrap().len(), 7);
        assert!(!parse("all,-disk").unwrap().contains(&Fault::Disk));
        assert_eq!(parse("none").unwrap(), []);
        assert_eq!(parse("kill,x").unwrap(), [Fault::Kill, Fault::X]);
        assert!(parse("kill,meteor").unwrap_err().contains("meteor"));
    }

    #[test]
    fn each_fault_comes_once_when_there_are_days_enough() {
        let s = schedule(&ALL, 3);
        assert_eq!(s.len(), 3);
        let mut all: Vec<Fault> = s.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), ALL.len());
        let s = schedule(&ALL, 30);
        assert!(s.iter().all(|d| d.len() == 1));
        assert_eq!(s.concat().iter().filter(|f| **f == Fault::Kill).count(), 4);
        assert!(schedule(&[], 3).iter().all(Vec::is_empty));
    }
}
