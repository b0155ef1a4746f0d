// Placeholder: the dashboard script comes from the watch-page branch.
