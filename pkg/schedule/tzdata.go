package schedule

// The fleetcron Lambda functions run on provided.al2023, which has no
// /usr/share/zoneinfo: without an embedded copy of the time zone database,
// LoadLocation would refuse every zone but UTC there. The system's database
// is still preferred where there is one.
import _ "time/tzdata"
