"""In-process fakes of the outside systems Coachline talks to, speaking their real protocols."""
