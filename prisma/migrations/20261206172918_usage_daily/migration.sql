-- CreateTable
CREATE TABLE "UsageDaily" (
    "tenantId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "day" DATE NOT NULL,
    "creditsSpent" INTEGER NOT NULL DEFAULT 0,
    "turns" INTEGER NOT NULL DEFAULT 0,
    "uploads" INTEGER NOT NULL DEFAULT 0,
    "uploadBytes" BIGINT NOT NULL DEFAULT 0,
    "exportsCompleted" INTEGER NOT NULL DEFAULT 0,
    "exportsFailed" INTEGER NOT NULL DEFAULT 0,
    "exportsCanceled" INTEGER NOT NULL DEFAULT 0,
    "webhooksDelivered" INTEGER NOT NULL DEFAULT 0,
    "webhooksFailed" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "UsageDaily_pkey" PRIMARY KEY ("tenantId","day","userId")
);

-- CreateIndex
CREATE INDEX "UsageDaily_tenantId_userId_day_idx" ON "UsageDaily"("tenantId", "userId", "day");

-- AddForeignKey
ALTER TABLE "UsageDaily" ADD CONSTRAINT "UsageDaily_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
