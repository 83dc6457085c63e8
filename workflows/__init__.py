"""The aid domain: 低保/特困 standard applications, the emergency fast channel, review and exit."""
