"""Reading back what the processes report about themselves: their traces."""
