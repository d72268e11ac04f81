package store_test

import (
	"testing"

	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func TestSQLite(t *testing.T)   { storetest.Run(t, storetest.SQLite(t)) }
func TestPostgres(t *testing.T) { storetest.Run(t, storetest.Postgres(t)) }
