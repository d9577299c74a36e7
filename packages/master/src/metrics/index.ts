export { createMasterMetrics, type MasterMetrics, type RefusalReason, type DbOp, type InactiveCause } from './metrics.js';
