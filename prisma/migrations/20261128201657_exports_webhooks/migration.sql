-- AlterTable
ALTER TABLE "Export" ADD COLUMN     "credentialId" UUID NOT NULL,
ADD COLUMN     "deadlineAt" TIMESTAMP(3) NOT NULL,
ADD COLUMN     "idempotencyKey" TEXT,
ADD COLUMN     "nextPollAt" TIMESTAMP(3),
ADD COLUMN     "pollLockedUntil" TIMESTAMP(3),
ADD COLUMN     "polls" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "renderIds" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "tenantId" UUID NOT NULL,
ADD COLUMN     "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
ADD COLUMN     "userId" UUID NOT NULL;

-- AlterTable
ALTER TABLE "WebhookAttempt" ADD COLUMN     "nextAttemptAt" TIMESTAMP(3),
ADD COLUMN     "trigger" TEXT NOT NULL DEFAULT 'scheduled';

-- AlterTable
ALTER TABLE "WebhookEndpoint" ADD COLUMN     "description" TEXT,
ADD COLUMN     "disabledAt" TIMESTAMP(3),
ADD COLUMN     "failingSince" TIMESTAMP(3),
ADD COLUMN     "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- AlterTable
ALTER TABLE "WebhookMessage" ADD COLUMN     "attemptCount" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "body" TEXT NOT NULL,
ADD COLUMN     "deliveredAt" TIMESTAMP(3),
ADD COLUMN     "lockedUntil" TIMESTAMP(3),
ADD COLUMN     "tenantId" UUID NOT NULL;

-- CreateIndex
CREATE INDEX "Export_tenantId_userId_createdAt_idx" ON "Export"("tenantId", "userId", "createdAt");

-- CreateIndex
CREATE INDEX "Export_status_idx" ON "Export"("status");

-- CreateIndex
CREATE UNIQUE INDEX "Export_tenantId_userId_idempotencyKey_key" ON "Export"("tenantId", "userId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "WebhookMessage_status_nextAttemptAt_idx" ON "WebhookMessage"("status", "nextAttemptAt");
