package pgprovider

// Listened reports whether the driver will run UNLISTEN * before handing the connection out
// again (a test seam).
func Listened(driverConn any) bool {
	pb, ok := driverConn.(*conn).be.(*pgxBackend)
	return ok && pb.nc.listened.Load()
}
