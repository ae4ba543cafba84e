// Types of the driver's own bson module (node_modules/mongodb/lib/bson.js ships without a declaration):
// the classes the driver re-exports, the same ones (driver-bson.ts says why it is imported).
declare module 'mongodb/lib/bson.js' {
  export { Binary, BSON, Decimal128, Long, ObjectId, Timestamp, UUID } from 'mongodb';
}
