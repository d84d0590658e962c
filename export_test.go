package pgprovider

// Listened reports whether the driver will run UNLISTEN * before handing the connection out
// again (a test seam).
func Listened(driverConn any) bool {
	c := driverConn.(*conn)
	return c.be != nil && c.be.nc != nil && c.be.nc.listened.Load()
}
