//! Deviations from the plan: what a subtask's steps touched against the files its plan named.

use serde::{Deserialize, Serialize};

/// Files a subtask changed that its plan did not name, and files it named that no step changed.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Deviations {
    /// Changed, but not named by the plan (sorted).
    #[serde(default)]
    pub outside_plan: Vec<String>,
    /// Named by the plan, but changed by no step (in plan order).
    #[serde(default)]
    pub untouched: Vec<String>,
}

impl Deviations {
    /// Compare `touched` (paths the steps changed) with `planned` (the subtask's `files`). A
    /// planned entry covers a path that is it, or lies under it when it names a directory
    /// (`src/limiter/` or `src/limiter`). `None` when the plan names no files: there is nothing to
    /// deviate from.
    pub fn of<'a>(
        planned: &[String],
        touched: impl IntoIterator<Item = &'a str>,
    ) -> Option<Deviations> {
        if planned.is_empty() {
            return None;
        }
        let mut touched: Vec<&str> = touched.into_iter().collect();
        touched.sort_unstable();
        touched.dedup();
        let covers = |p: &str, t: &str| {
            let p = p.trim_start_matches("./");
            let dir = p.trim_end_matches('/');
            t == p || (t.len() > dir.len() && t.starts_with(dir) && t[dir.len()..].starts_with('/'))
        };
        let outside_plan = touched
            .iter()
            .filter(|t| !planned.iter().any(|p| covers(p, t)))
            .map(|t| (*t).to_owned())
            .collect();
        let untouched = planned
            .iter()
            .filter(|p| !touched.iter().any(|t| covers(p, t)))
            .cloned()
            .collect();
        Some(Deviations {
            outside_plan,
            untouched,
        })
    }

    /// Whether the work went as planned.
    pub fn is_empty(&self) -> bool {
        self.outside_plan.is_empty() && self.untouched.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn files_and_directories_of_the_plan_cover_what_they_name() {
        let d = Deviations::of(
            &planned(&["src/limiter.rs", "src/store/", "docs", "README.md"]),
            [
                "src/limiter.rs",
                "src/store/redis.rs",
                "docs/limits.md",
                "Cargo.toml",
                "src/storefront.rs",
            ],
        )
        .unwrap();
        assert_eq!(d.outside_plan, ["Cargo.toml", "src/storefront.rs"]);
        assert_eq!(d.untouched, ["README.md"]);
        assert!(!d.is_empty());
        let fine = Deviations::of(&planned(&["./a.rs"]), ["a.rs", "a.rs"]).unwrap();
        assert!(fine.is_empty());
        assert_eq!(Deviations::of(&[], ["a.rs"]), None);
    }
}
