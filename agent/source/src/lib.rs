//! Sextant sources (skeleton).
