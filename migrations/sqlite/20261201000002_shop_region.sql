-- How the shop counts money and days. `currency`: ISO 4217; amounts everywhere are integers in its
-- minor unit (cents for USD). `locale`: a BCP 47 tag for numbers and dates ('' = each reader's
-- language). `time_zone`: IANA; '' = the server's --timezone until an admin chooses one.
ALTER TABLE shop_settings ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD';
ALTER TABLE shop_settings ADD COLUMN locale TEXT NOT NULL DEFAULT '';
ALTER TABLE shop_settings ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';
-- The logo printed on receipts: a PNG, JPEG or WebP data URL of at most 64 KB ('' = none).
ALTER TABLE shop_settings ADD COLUMN logo TEXT NOT NULL DEFAULT '';
