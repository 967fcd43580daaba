"""Call recordings: index, post-processing, retention, access control and QA review."""
