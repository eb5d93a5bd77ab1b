//! This process's memory as the operating system reports it (Linux `/proc`; `None` or no-op
//! elsewhere): resident and peak resident size, resetting the peak, and the memory available to
//! new allocations. `urisc predict` and `urisc bench run` report peaks with these,
//! `urisc attribute` sizes its work to what is available, and [`crate::timing`] measures each
//! metric's peak.

/// Resets the kernel's peak-RSS counter of this process (Linux `clear_refs` 5); no-op elsewhere.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory (VmHWM) of this process in MiB, where the OS reports it.
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_mib("VmHWM:")
}

/// Current resident memory (VmRSS) of this process in MiB, where the OS reports it.
pub fn current_rss_mib() -> Option<f64> {
    proc_status_mib("VmRSS:")
}

/// Memory the OS says is available to new allocations (MemAvailable), where it reports it.
pub fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn linux_reports_resident_and_available_memory() {
        let current = current_rss_mib().expect("VmRSS on Linux");
        let peak = peak_rss_mib().expect("VmHWM on Linux");
        assert!(current > 0.0 && peak >= current * 0.5, "{current} {peak}");
        assert!(available_memory_bytes().expect("MemAvailable on Linux") > 0);
    }
}
