"""Admin-editable approval policies: versions of an approval chain, and the stages in each."""
