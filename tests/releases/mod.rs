//! The previous releases' job types, kept for the testing kit: one module per
//! release, copied from the job's code when the next release began.

pub mod v2_0;
