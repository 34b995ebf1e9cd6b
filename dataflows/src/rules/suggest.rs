//! "Did you mean …?" suggestions for misspelt names.
//!
//! Contract: [`did_you_mean`] returns a ready-to-append hint naming the closest
//! candidate within a small edit distance, or an empty string.

/// Edit distance between two short strings (bounded work: names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
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
        assert_eq!(did_you_mean("ad_clikced", ["ad_clicked", "ad_shown"]), " (did you mean \"ad_clicked\"?)");
        assert_eq!(did_you_mean("gendr", ["gender", "country"]), " (did you mean \"gender\"?)");
        assert_eq!(did_you_mean("zzz", ["gender"]), "");
    }
}
