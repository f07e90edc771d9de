//! Building blocks shared by the encoders: self-attention, activations, attention masks and
//! pooling. Nothing here knows a particular model.

mod activation;
mod attention;
mod masks;
mod pooling;

pub use activation::HiddenAct;
pub use attention::{AttentionNames, SelfAttention};
pub use masks::attention_mask_bias;
pub use pooling::{first_token, masked_mean_channels_first, masked_mean_channels_last};
