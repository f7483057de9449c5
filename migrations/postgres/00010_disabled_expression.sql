-- The disabled flag of a source is an expression now (docs/directory.md
-- "Disabled accounts"). The two attribute names the console suggested
-- before are rewritten:
--  * pwdAccountLockedTime disabled on any lock, also a timed lockout that
--    anyone can cause with wrong passwords and that expires by itself; it
--    becomes locked(pwdAccountLockedTime): a permanent lock only.
--  * userAccountControl on Active Directory becomes bit 2 or an
--    accountExpires in the past.
-- member_attr holds a comma-separated list now; a single attribute is a
-- list of one and needs no change.

-- +goose Up
UPDATE sources SET attribute_map = REPLACE(attribute_map, '"Disabled":"pwdAccountLockedTime"', '"Disabled":"locked(pwdAccountLockedTime)"')
 WHERE attribute_map LIKE '%"Disabled":"pwdAccountLockedTime"%';
UPDATE sources SET attribute_map = REPLACE(attribute_map, '"Disabled":"userAccountControl"', '"Disabled":"bit(userAccountControl, 2) || past(accountExpires)"')
 WHERE kind = 'ad' AND attribute_map LIKE '%"Disabled":"userAccountControl"%';

-- +goose Down
UPDATE sources SET attribute_map = REPLACE(attribute_map, '"Disabled":"locked(pwdAccountLockedTime)"', '"Disabled":"pwdAccountLockedTime"')
 WHERE attribute_map LIKE '%"Disabled":"locked(pwdAccountLockedTime)"%';
UPDATE sources SET attribute_map = REPLACE(attribute_map, '"Disabled":"bit(userAccountControl, 2) || past(accountExpires)"', '"Disabled":"userAccountControl"')
 WHERE kind = 'ad' AND attribute_map LIKE '%"Disabled":"bit(userAccountControl, 2) || past(accountExpires)"%';
