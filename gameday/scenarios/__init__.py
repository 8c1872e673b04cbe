"""gameday.scenarios"""
