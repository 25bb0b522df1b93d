-- Residents reporting through apps often give an email address rather than a phone.
-- Personal data like the other columns of persons: cleared when the person is erased.
ALTER TABLE persons ADD COLUMN email TEXT;
