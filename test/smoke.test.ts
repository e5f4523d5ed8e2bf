import t from 'tap'
import { catalog } from '../src/errors.ts'
t.equal(catalog.GW_ERR_NOT_FOUND.status, 404)
