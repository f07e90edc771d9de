//! Sequence classification: the encoder with a classification head on its first token, as
//! transformers' `*ForSequenceClassification` checkpoints hold it.

use crate::models::hub::HubFolder;
use crate::models::hub::config::read_json;
use crate::models::hub::safetensors::{HubWeights, LoadReport, ParamSource, linear};
use crate::models::roberta::config::{EncoderKind, HfEncoderConfig, RobertaConfig};
use crate::models::roberta::model::{RobertaInput, RobertaModel};
use anyhow::Result;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// A sequence classification head on the first token: dense, tanh, dropout, linear (RoBERTa
/// also applies dropout before the dense layer). transformers' `RobertaClassificationHead`, or
/// for BERT its `BertPooler` followed by the `classifier` of `BertForSequenceClassification`.
///
/// # Shapes
/// - input `pooled`: `[batch, hidden]`
/// - output: `[batch, num_labels]`
#[derive(Module, Debug)]
pub struct ClassificationHead {
    dense: Linear,
    out: Linear,
    dropout: Dropout,
    #[module(skip)]
    dropout_first: bool,
}

impl ClassificationHead {
    /// Utterance vectors `[batch, hidden]` to logits `[batch, num_labels]`.
    pub fn forward(&self, pooled: Tensor<2>) -> Tensor<2> {
        let x = if self.dropout_first {
            self.dropout.forward(pooled)
        } else {
            pooled
        };
        let x = self.dense.forward(x).tanh();
        self.out.forward(self.dropout.forward(x))
    }
}

/// An encoder with a classification head: transformers' `RobertaForSequenceClassification` /
/// `BertForSequenceClassification`.
///
/// # Shapes
/// - inputs: as [`RobertaModel::forward`], `[batch, tokens]`
/// - output: logits `[batch, num_labels]`
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// The encoder.
    pub encoder: RobertaModel,
    /// The head.
    pub head: ClassificationHead,
}

impl SequenceClassifier {
    /// Loads encoder and head from a model folder. The head comes from the checkpoint when it
    /// has one and is newly initialised otherwise (listed in the report's
    /// `newly_initialised`, as transformers warns). `num_labels` defaults to the size of
    /// `id2label` in `config.json`, else 2 (transformers' default).
    pub fn from_pretrained(
        dir: &Path,
        num_labels: Option<usize>,
        device: &Device,
    ) -> Result<(Self, RobertaConfig, LoadReport)> {
        let folder = HubFolder::new(dir)?;
        let config_path = folder.config()?;
        let hf: HfEncoderConfig = read_json(&config_path)?;
        let config = RobertaConfig::from_hf(&hf, &config_path)?;
        let num_labels = num_labels
            .or(hf.id2label.as_ref().map(BTreeMap::len))
            .unwrap_or(2);
        let mut weights = HubWeights::open(&folder.weights()?, &config.key_mapping(), device)?;
        let encoder = config.build(&mut weights);
        let head = config.build_head(&mut weights, num_labels);
        let name = format!(
            "{}ForSequenceClassification",
            config.model_name().trim_end_matches("Model")
        );
        let report = weights.finish(&name)?;
        Ok((Self { encoder, head }, config, report))
    }

    /// Class logits `[batch, num_labels]` for a batch.
    pub fn forward(&self, input: RobertaInput) -> Tensor<2> {
        self.head.forward(self.encoder.forward(input).pooled)
    }
}

impl RobertaConfig {
    /// Builds a sequence classification head for `num_labels` classes, loaded from `source`
    /// when it has one (transformers' `RobertaForSequenceClassification` /
    /// `BertForSequenceClassification` names), newly initialised otherwise.
    pub fn build_head<S: ParamSource>(
        &self,
        source: &mut S,
        num_labels: usize,
    ) -> ClassificationHead {
        let h = self.hidden_size;
        let std = self.initializer_range;
        // Same computation (dense, tanh, dropout, linear on the first token), different names:
        // RoBERTa keeps it in `classifier.{dense,out_proj}`, BERT splits it into the pooler
        // (under the `bert.` prefix) and `classifier`.
        let (dense, out) = match self.kind {
            EncoderKind::Roberta => ("classifier.dense", "classifier.out_proj"),
            EncoderKind::Bert => ("pooler.dense", "classifier"),
        };
        ClassificationHead {
            dense: linear(source, dense, h, h, std, true),
            out: linear(source, out, h, num_labels, std, true),
            dropout: DropoutConfig::new(self.hidden_dropout).init(),
            dropout_first: self.kind == EncoderKind::Roberta,
        }
    }
}
