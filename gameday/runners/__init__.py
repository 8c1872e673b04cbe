"""gameday.runners"""
