package fleet

import "context"

// MigrateTo migrates c's database to version v (tests of upgrades from
// every earlier version).
func MigrateTo(ctx context.Context, c *Client, v int) (Migration, error) {
	return migrateTo(ctx, c.pool, v)
}
