//! Spatial and space–time statistics: hotspots, local autocorrelation, trends and scans.
