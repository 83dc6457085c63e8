"""Oversight: the live tables proven against the trail, the monthly report, the watch list, signals."""
