//! Loading the corpus an experiment names.

use crate::data::Corpus;
use crate::data::synthetic::{self, SyntheticOptions};
use crate::experiment::{DatasetKind, Experiment};

/// Loads (or, for `synthetic`, generates) the experiment's corpus.
pub fn load_corpus(experiment: &Experiment) -> anyhow::Result<Corpus> {
    let d = &experiment.data;
    match d.dataset {
        DatasetKind::Synthetic => Ok(synthetic::generate(&SyntheticOptions {
            seed: experiment.data_seed(),
            train_size: d.train_size,
            valid_size: d.valid_size,
            test_size: d.test_size,
            sample_rate: d.sample_rate,
            max_seconds: d.clip_seconds,
        })),
        DatasetKind::Ravdess | DatasetKind::Emodb | DatasetKind::Table => anyhow::bail!(
            "a {:?} corpus is one pool of speakers: it is split by [data.split] into folds, each trained as its own run, not loaded as fixed splits",
            d.dataset
        ),
        DatasetKind::Manifest => {
            let path = |p: &Option<std::path::PathBuf>| p.clone().unwrap_or_default();
            let (train, valid, test) = (
                path(&d.train_manifest),
                path(&d.valid_manifest),
                path(&d.test_manifest),
            );
            crate::data::manifest::load_manifests(
                [&train, &valid, &test],
                experiment.label_map()?,
                d.sample_rate,
                experiment.model.uses(crate::core::Modality::Text),
            )
        }
    }
}
