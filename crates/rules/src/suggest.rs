//! "Did you mean …?" suggestions for misspelt names.
//!
//! Contract: [`did_you_mean`] returns a ready-to-append hint naming the closest
//! candidate within a small edit distance, or an empty string.

/// Edit distance where an adjacent transposition counts as one edit (optimal string
/// alignment); bounded work, since names are truncated to 64 characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// ` (did you mean "x"?)` for the closest candidate, or `""`.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map_or(String::new(), |(_, c)| format!(" (did you mean {c:?}?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("ad_clikced", ["ad_clicked", "ad_shown"]),
            " (did you mean \"ad_clicked\"?)"
        );
        assert_eq!(did_you_mean("gendr", ["gender", "country"]), " (did you mean \"gender\"?)");
        assert_eq!(did_you_mean("itme", ["item", "qty"]), " (did you mean \"item\"?)");
        assert_eq!(did_you_mean("zzz", ["gender"]), "");
    }
}
