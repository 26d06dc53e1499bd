"""Where prepared rows come from: one module per source, each returning schema rows."""
