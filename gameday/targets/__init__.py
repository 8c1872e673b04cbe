"""gameday.targets"""
