//! Which blocks one scheduler task processes: the array index (`--index`, Slurm's
//! `SLURM_ARRAY_TASK_ID`, a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`, in that order)
//! and the shard rule (`--shard-id I --num-shards N`: blocks `b` with `b mod N = I`, for
//! runners that hand out shards rather than array indices). `urisc run-block` and
//! `urisc cells-run` both resolve their index here.

use crate::error::ClusterError;

/// The environment variables that carry an array index, in the order they are read.
pub const INDEX_VARIABLES: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// The array index of this task: `explicit` if given, else the first of [`INDEX_VARIABLES`]
/// that is set, else `None`. A variable that is set but is not an index is a fatal error
/// naming it (a silently ignored index would run the wrong blocks).
pub fn array_index(explicit: Option<usize>) -> Result<Option<usize>, ClusterError> {
    array_index_from(explicit, |var| std::env::var(var).ok())
}

/// [`array_index`] with the environment given as a lookup (for tests).
pub fn array_index_from(
    explicit: Option<usize>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<usize>, ClusterError> {
    if let Some(i) = explicit {
        return Ok(Some(i));
    }
    for var in INDEX_VARIABLES {
        if let Some(v) = env(var) {
            return v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ClusterError::Fatal(format!("${var} = {v:?} is not an index")));
        }
    }
    Ok(None)
}

/// The items (blocks) of array task `index` when tasks take `per_task` consecutive items of
/// `total`; an index beyond the last task is a fatal error (`what` names the plan).
pub fn task_items(
    index: usize,
    per_task: usize,
    total: usize,
    what: &str,
) -> Result<std::ops::Range<usize>, ClusterError> {
    let tasks = total.div_ceil(per_task.max(1));
    if index >= tasks {
        return Err(ClusterError::Fatal(format!(
            "{what}: index {index} is beyond the plan's {tasks} tasks (0..{tasks})"
        )));
    }
    Ok(index * per_task..((index + 1) * per_task).min(total))
}

/// The items of shard `id` of `num_shards`: every `b < total` with `b mod num_shards = id`.
pub fn shard_items(id: usize, num_shards: usize, total: usize) -> Result<Vec<usize>, ClusterError> {
    if num_shards == 0 || id >= num_shards {
        return Err(ClusterError::Fatal(format!(
            "--shard-id {id} must be below --num-shards {num_shards}"
        )));
    }
    Ok((0..total).filter(|b| b % num_shards == id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_comes_from_the_flag_then_slurm_then_kubernetes() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both: &[(&str, &str)] = &[("SLURM_ARRAY_TASK_ID", "3"), ("JOB_COMPLETION_INDEX", "5")];
        assert_eq!(array_index_from(Some(1), env(both)).unwrap(), Some(1));
        assert_eq!(array_index_from(None, env(both)).unwrap(), Some(3));
        assert_eq!(
            array_index_from(None, env(&[("JOB_COMPLETION_INDEX", " 5\n")])).unwrap(),
            Some(5)
        );
        assert_eq!(array_index_from(None, env(&[])).unwrap(), None);
        let bad = array_index_from(None, env(&[("SLURM_ARRAY_TASK_ID", "x")])).unwrap_err();
        assert!(bad.to_string().contains("SLURM_ARRAY_TASK_ID"), "{bad}");
        assert!(!bad.retryable());
    }

    #[test]
    fn tasks_and_shards_cover_every_item_once() {
        let mut seen = Vec::new();
        for t in 0..4 {
            seen.extend(task_items(t, 3, 10, "plan").unwrap());
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert!(task_items(4, 3, 10, "plan").is_err());
        let mut sharded: Vec<usize> = (0..3)
            .flat_map(|id| shard_items(id, 3, 10).unwrap())
            .collect();
        sharded.sort_unstable();
        assert_eq!(sharded, (0..10).collect::<Vec<_>>());
        assert!(shard_items(3, 3, 10).is_err());
        assert!(shard_items(0, 0, 10).is_err());
    }
}
