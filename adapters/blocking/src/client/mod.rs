//! The client side (see below).
