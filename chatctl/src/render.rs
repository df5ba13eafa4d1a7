//! Output for people: aligned tables, durations (`4m05s`), UTC times. JSON output needs none of
//! this: it is chatd's answer printed as one line.

use std::io::Write;

use proto::admin::AdminResponse;

/// Prints chatd's answer as one JSON line (the `--json` form of every subcommand).
pub fn json_line(out: &mut impl Write, response: &AdminResponse) -> std::io::Result<()> {
    writeln!(out, "{}", proto::encode_line(response).trim_end())
}

/// Prints rows as a table: a header, then columns padded to the widest cell. The last column
/// is not padded, so lines carry no trailing spaces.
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// `3725` -> `1h02m05s`; `65` -> `1m05s`; `7` -> `7s`; days for long uptimes.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `1 connection`, `2 connections`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc(epoch: u64) -> String {
    let days = (epoch / 86400) as i64;
    let rem = epoch % 86400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(3725), "1h02m05s");
        assert_eq!(duration(2 * 86400 + 3 * 3600 + 60), "2d03h01m");
    }

    #[test]
    fn counts() {
        assert_eq!(count(0, "user"), "0 users");
        assert_eq!(count(1, "user"), "1 user");
        assert_eq!(count(2, "connection"), "2 connections");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_714_564_803), "2024-05-01 12:00:03");
    }

    #[test]
    fn tables_align_without_trailing_spaces() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["hans".to_string(), "1".to_string()],
            vec!["palpatine".to_string(), "22".to_string()],
        ];
        table(&mut out, &["USER", "N"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "USER       N\nhans       1\npalpatine  22\n"
        );
    }
}
