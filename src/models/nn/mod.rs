//! Building blocks shared by the encoders: self-attention, activations, attention masks,
//! pooling, the CPU's batch split and its GELU and dropout kernels. Nothing here knows a
//! particular model.

mod activation;
mod attention;
pub mod cpu_dropout;
pub mod cpu_gelu;
mod masks;
mod pooling;
mod rows;
mod threads;

pub use activation::HiddenAct;
pub use attention::{AttentionNames, SelfAttention};
pub use masks::attention_mask_bias;
pub use pooling::{
    LayerPooling, LayerWeights, SequencePooling, first_token, masked_mean_channels_first,
    masked_mean_channels_last,
};
pub use rows::linear_rows;
pub use threads::{cat_parts, is_cpu, set_batch_split, split_batch};
