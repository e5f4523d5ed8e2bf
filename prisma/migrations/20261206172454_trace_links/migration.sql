-- AlterTable
ALTER TABLE "Export" ADD COLUMN     "traceparent" TEXT;

-- AlterTable
ALTER TABLE "WebhookMessage" ADD COLUMN     "traceparent" TEXT;
