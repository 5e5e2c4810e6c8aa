using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MeasureApp.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class MeasurementLabels : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "measurement_metadata",
                columns: table => new
                {
                    MeasurementId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Key = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Value = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    Normalized = table.Column<string>(type: "TEXT", maxLength: 1128, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_measurement_metadata", x => new { x.MeasurementId, x.Key });
                    table.ForeignKey(
                        name: "FK_measurement_metadata_measurements_MeasurementId",
                        column: x => x.MeasurementId,
                        principalTable: "measurements",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "measurement_tags",
                columns: table => new
                {
                    MeasurementId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Normalized = table.Column<string>(type: "TEXT", maxLength: 80, nullable: false),
                    Tag = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_measurement_tags", x => new { x.MeasurementId, x.Normalized });
                    table.ForeignKey(
                        name: "FK_measurement_tags_measurements_MeasurementId",
                        column: x => x.MeasurementId,
                        principalTable: "measurements",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_measurement_tags_Normalized_MeasurementId",
                table: "measurement_tags",
                columns: new[] { "Normalized", "MeasurementId" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "measurement_metadata");

            migrationBuilder.DropTable(
                name: "measurement_tags");
        }
    }
}
