//! Tests of the sans-IO core that need more than one module: the query path driven on a fake
//! clock (`t0` plus offsets, never a sleep), with upstream and dynamic-zone replies handed in
//! as the driver would.

mod captured;
mod hostile;
mod timeline;
