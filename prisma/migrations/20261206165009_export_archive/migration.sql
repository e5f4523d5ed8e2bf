-- CreateEnum
CREATE TYPE "ArchiveState" AS ENUM ('pending', 'archived', 'failed', 'expired');

-- AlterTable
ALTER TABLE "Export" ADD COLUMN     "archiveAttempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "archiveError" TEXT,
ADD COLUMN     "archiveKey" TEXT,
ADD COLUMN     "archiveLockedUntil" TIMESTAMP(3),
ADD COLUMN     "archiveNextAt" TIMESTAMP(3),
ADD COLUMN     "archiveSha256" TEXT,
ADD COLUMN     "archiveSize" BIGINT,
ADD COLUMN     "archiveState" "ArchiveState",
ADD COLUMN     "archiveStore" TEXT,
ADD COLUMN     "archivedAt" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "Export_archiveState_archivedAt_idx" ON "Export"("archiveState", "archivedAt");
