-- AlterTable
ALTER TABLE "Turn" ADD COLUMN     "instanceId" UUID,
ADD COLUMN     "leaseUntil" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "Turn_status_leaseUntil_idx" ON "Turn"("status", "leaseUntil");
